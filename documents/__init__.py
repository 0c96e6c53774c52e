"""Letters, compilation, meeting summary and report (the documents issue)."""
