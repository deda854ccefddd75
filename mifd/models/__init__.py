"""Recurrent models with a leading trial dimension."""
