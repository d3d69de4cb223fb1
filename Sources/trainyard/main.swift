print("trainyard")
