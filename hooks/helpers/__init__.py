"""What the handler modules share: the message builders, the template variables and the
staff alert. Helpers register no handler; `hooks.load_all` passes this package over."""
