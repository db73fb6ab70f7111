oms diagram --market EU --payment-method card                          # Mermaid text
oms diagram --market JP --payment-method card --format svg --output jp-card.svg
