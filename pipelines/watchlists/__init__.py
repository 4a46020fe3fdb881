"""Watch lists: load the official UN, OFAC and national list files, version them, screen parties."""
