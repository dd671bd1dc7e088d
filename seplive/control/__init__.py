"""The live mix state and the controls that change it."""
