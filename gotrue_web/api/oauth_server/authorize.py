"""Placeholder: being written (issue 18)."""



def authorize(*args, **kwargs):
    raise NotImplementedError
