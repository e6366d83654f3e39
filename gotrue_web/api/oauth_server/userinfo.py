"""Placeholder: being written (issue 18)."""



def userinfo(*args, **kwargs):
    raise NotImplementedError
