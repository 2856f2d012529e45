"""mmq package."""
