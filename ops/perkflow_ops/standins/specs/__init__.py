"""Published API documents the stand-ins validate against (only the parts perkflow uses, with their source)."""
