"""GameStream (Moonlight) host: discovery, pairing, app list and launch over nvhttp."""
