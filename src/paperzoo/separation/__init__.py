"""AudioSlots: slot-centric audio source separation (Reddy et al. 2023)."""
