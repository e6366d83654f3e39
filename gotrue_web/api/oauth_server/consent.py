"""Placeholder: being written (issue 18)."""



def get_authorization(*args, **kwargs):
    raise NotImplementedError


def decide(*args, **kwargs):
    raise NotImplementedError
