"""The FusionSolar northbound ("thirdData") side: wire format, paced client, persisted state."""
