"""The pure core: window and indicator maths over plain Python and numpy.

Nothing in this package imports Faust, Kafka or ClickHouse clients; a test keeps it so.
"""
