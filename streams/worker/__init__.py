"""The worker: the Faust app and its agent (:mod:`.app`) and how it is started (:mod:`.runner`)."""
