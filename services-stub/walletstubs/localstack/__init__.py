"""The local stack: real or embedded backends and the processes behind the local gateway."""
