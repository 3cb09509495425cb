"""Blind user study, as in the supplement's section 6: observers see each clip's grayscale input, its
exemplar and the methods' results, anonymised and freshly shuffled, and pick the most pleasing one.

``folder`` builds a study folder (``colormnet study make``), ``server`` shows it to observers and records
their choices in ``votes`` (``serve``), ``report`` gives each method's selection share with a 95 %
confidence interval and a bar chart (``report``). Nothing here needs torch.
"""
