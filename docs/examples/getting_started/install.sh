pip install -r requirements.txt && oms demo
