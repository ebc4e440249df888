"""``emc bench``: end-to-end figures of the pipeline on the embedded broker and ClickHouse.

Modules: :mod:`.workload` (the pre-produced stream and synthetic registries), :mod:`.procs`
(child processes: worker, ceiling, peer; /proc sampling; committed offsets), :mod:`.ceiling`
(the bare-consumer reference line), :mod:`.peer` (the Quix Streams reference line, run in its own
virtualenv), :mod:`.suite` (the measured phases) and :mod:`.report` (table and JSON).

What each figure means is written next to the code that measures it (:mod:`.suite`) and in
docs/performance.md.
"""
