"""Sub-commands that live in their own modules: each module here has ``register(subparsers)`` adding
its parser(s) with ``set_defaults(func=...)``; ``zhifa_sync.cli`` finds them all."""
