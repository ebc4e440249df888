"""The Kafka side: wire codecs, the batch feed, the changelog-backed state store, topics, the
producer and the embedded broker (tansu). All Kafka access goes through this package."""
