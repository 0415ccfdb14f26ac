"""Small helpers every command shares: files, run directories, torch loading, device, threads, progress, checks."""
