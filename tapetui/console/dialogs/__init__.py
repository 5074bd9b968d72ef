"""Modal dialogs: confirmations, forms, help."""
