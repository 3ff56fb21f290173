"""Classic published results, reproduced by the lab's own run kinds (see `registry`)."""
