"""Developer tools that are not part of the archspec package."""
