"""Placeholder: being written (issue 18)."""



def admin_list_clients(*args, **kwargs):
    raise NotImplementedError


def admin_create_client(*args, **kwargs):
    raise NotImplementedError


def admin_get_client(*args, **kwargs):
    raise NotImplementedError


def admin_update_client(*args, **kwargs):
    raise NotImplementedError


def admin_delete_client(*args, **kwargs):
    raise NotImplementedError


def admin_regenerate_secret(*args, **kwargs):
    raise NotImplementedError


def register_client(*args, **kwargs):
    raise NotImplementedError
