"""Placeholder: being written (issue 18)."""



def token(*args, **kwargs):
    raise NotImplementedError
