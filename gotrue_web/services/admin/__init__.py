"""What an administrator does, through the admin API with a service-role token or from the
console as an operator: users (create, update, ban, delete, factors), invitations, and links
generated without sending them."""
