"""The pure core: events, the unit registry, local time, windows, indicators, dossier
lifecycles, the batch of rows and the batch pipeline that fills it.

Nothing in this package imports anything but the standard library, numpy and the core itself
(tests/core/test_purity.py keeps it so): the Kafka codec is handed to the pipeline as a decode
function, and rows leave it as named columns for any sink.
"""
