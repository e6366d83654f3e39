"""Placeholder: being written (issue 18)."""



def authorization_server_metadata(*args, **kwargs):
    raise NotImplementedError


def openid_configuration(*args, **kwargs):
    raise NotImplementedError
