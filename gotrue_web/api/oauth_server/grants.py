"""Placeholder: being written (issue 18)."""



def list_grants(*args, **kwargs):
    raise NotImplementedError


def revoke_grant(*args, **kwargs):
    raise NotImplementedError
