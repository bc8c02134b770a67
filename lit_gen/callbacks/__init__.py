"""Lightning callbacks: image grids, checkpoint metadata."""
