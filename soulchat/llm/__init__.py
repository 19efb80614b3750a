"""soulchat.llm"""
