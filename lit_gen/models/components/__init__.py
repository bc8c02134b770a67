"""Networks as plain ``nn.Module``s: they know nothing about Lightning."""
