"""The operator console's composition: the admin index dashboard and the process endpoints (/health,
/ready, /metrics). It reads every app and is imported by none."""
