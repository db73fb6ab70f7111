"""oms-sdk: an order management system you embed in your Python application."""
