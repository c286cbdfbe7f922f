"""Generated composition tasks of learned 2D factors, judged against exact references."""
