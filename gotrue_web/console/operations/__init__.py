"""The console's own service layer: queries and actions only the operator console needs (the
user list and its export, user actions with their console rules, invitations, operators, the
logs, the settings report and the template editor). No Flask here: views read the request and
pass what these functions need, as for any service."""
