"""Reading what the mesh prints: the linkerd CLI's output (cli_output) and the proxies' metrics (metrics)."""
