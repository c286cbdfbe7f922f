"""Compositional text-to-image on synthetic scenes (issue 5): sentence models composed by
products, a paragraph model as the monolithic baseline, a detector as the judge."""
