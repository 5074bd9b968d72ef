"""The console: the Textual app, its screens and widgets. Holds no business rules."""
