"""The on-disk index: store (read and verify), build (write a generation), reuse, update, ANN."""
