"""Disclosure control: the only way figures leave the practice."""
