"""The grader's worker package: runs inside the sandbox, imports only the standard library and NumPy."""
