"""Connection health: gap detection, statuses and their history, imports, the status report and
the project's own reconciliation of rollups against raw events.

Modules: :mod:`.monitor` (the object that runs it all, and the worker's routes), :mod:`.statuses`
(the status type and its rules), :mod:`.sql` (the ClickHouse side), :mod:`.imports`,
:mod:`.report`, :mod:`.calendar` (working hours and holidays), :mod:`.reconcile`, and the
reminder letters of ``emc remind``: :mod:`.letters` (what a letter says, ``unit_letters``),
:mod:`.letter_render` (HTML and DOCX), :mod:`.letter_labels` (the wording).
"""
