"""The tensions study: accuracy × fairness × privacy × explanation consensus on the same models.

Datta et al. ("Tensions Between the Proxies of Human Values in AI", SaTML 2023) argue that
differential privacy, group fairness and post hoc explanations pull against each other. This
package crosses three interventions -- PEAR consensus training (λ), DP-SGD (ε) and Kamiran-Calders
reweighing -- over seeds, trains every grid cell's models as one stacked (vmapped) program, and
measures every axis on every model:

* `data`: the four tables with their sensitive groups (Adult, Bank Marketing, California, Electricity);
* `dp`: DP-SGD mechanics (optax) and the PLD accountant (dp-accounting);
* `fairness`, `privacy`, `transparency`: the per-model metrics;
* `trainer`: the stacked trainer; `grid`: the resumable grid and `report`: its tables and plots.

This module imports nothing heavy, so configs may import `pear_jax.tensions.config`.
"""
