"""The preview page: two viewers' home pages side by side, as keyart chose them."""
