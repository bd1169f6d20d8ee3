"""Training: the loop behind `nqa train` (train), its WTQ data helpers (data), the offline program
search (search) and generated (question, program) pairs (generated). Research scripts that build on
them stay in the source checkout's training/ folder."""
