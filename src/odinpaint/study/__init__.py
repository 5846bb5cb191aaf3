"""The study: what the models are worth, measured and reported.

- ``experiment``: the declared arms and claims, run with equal budgets; ``analysis`` judges
  the claims; ``stats``: paired and seeded confidence intervals; ``report`` and
  ``templates/``: the HTML and Markdown report;
- ``photo_eval``: whole test photos at 256 and 512 px against the classical methods;
- ``bench``: speed against this machine's matmul peak.

The study sits above everything else and nothing but the command line imports it.
"""
