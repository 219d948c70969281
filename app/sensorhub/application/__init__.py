"""The application layer: command handlers, the repository and unit of work, and the ports
(Protocols) the adapters implement."""
