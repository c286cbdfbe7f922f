"""2D object arrangement as constraint satisfaction (issue 4, in progress): exact geometry and
constraint checkers, random problems solved by construction, and the problem file format."""
